"""Print the watchlist JSON Schema: ``python -m monitor.watchlists > watchlists/schema.json``."""

from monitor.watchlists.spec import schema_text

if __name__ == "__main__":
    print(schema_text(), end="")
