"""知客 Zhike: a Chinese-first dialogue engine that reads Rasa 3.x projects."""

__version__ = "0.1.0"
