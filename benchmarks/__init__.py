"""Scripts that measure speed and results; each prints JSON lines (results/ keeps what they printed)."""
