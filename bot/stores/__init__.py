"""Where conversations are kept (tracker stores) and how their turns are serialised (locks)."""

from bot.stores.base import (
    ConcurrencyConflict,
    ConversationInfo,
    ConversationMeta,
    Event,
    StoredTracker,
    StoreError,
    TrackerStore,
)
from bot.stores.factory import (
    BACKENDS,
    StoreConfig,
    Stores,
    create_stores,
    register_backend,
    url_from_endpoint,
)
from bot.stores.locks import FileLockStore, InMemoryLockStore, LockStore, LockTimeout
from bot.stores.memory import InMemoryTrackerStore
from bot.stores.sqlite import SQLiteTrackerStore

__all__ = [
    "BACKENDS",
    "ConcurrencyConflict",
    "ConversationInfo",
    "ConversationMeta",
    "Event",
    "FileLockStore",
    "InMemoryLockStore",
    "InMemoryTrackerStore",
    "LockStore",
    "LockTimeout",
    "SQLiteTrackerStore",
    "StoreConfig",
    "StoreError",
    "StoredTracker",
    "Stores",
    "TrackerStore",
    "create_stores",
    "register_backend",
    "url_from_endpoint",
]
