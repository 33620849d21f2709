"""`agent report DIR`: one self-contained HTML page about a solve run (plots inline as SVG)."""
