"""The HTTP server: one FastAPI app for the engine, the channels, the APIs and the pages."""
