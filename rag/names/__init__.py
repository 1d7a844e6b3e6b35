"""Names across scripts: `expansion` (Latin name → Arabic spellings), `transliteration`, `gazetteer`."""
