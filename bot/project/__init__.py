"""Reading a Rasa 3.x / Zhike project directory."""
