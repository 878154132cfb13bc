"""graphs layer (filled by later work)."""

__all__: list[str] = []
