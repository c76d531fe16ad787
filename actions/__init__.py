"""Custom actions of the 知客 reference bot (China telecom customer service, 小知).

Run with the rasa_sdk action server (``python -m rasa_sdk --actions actions``). Modules:
``demo_db`` (SQLite demo business data), ``normalize`` (spoken numbers, months), ``identity``
(who the customer is), ``account`` (queries), ``services`` (form submissions),
``forms`` (form validation), ``dialogue`` (form exit, fallback affirmation).
"""
