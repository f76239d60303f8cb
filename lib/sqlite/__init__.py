"""The embedded profile's database backend: Django's SQLite backend, with this process's writers taking turns
(`lib.sqlite.base`). `ENGINE: "lib.sqlite"` in config/settings.py."""
