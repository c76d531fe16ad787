"""自定义动作包 / Custom actions for this bot (rasa_sdk)."""
