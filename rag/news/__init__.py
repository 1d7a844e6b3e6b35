"""What news knows: `outlets` (publishers from signatures), `dates`, `stories` (near-duplicate clusters),
`questions` (speakers, quotes, recency, figures) and `filters` (outlet, dates, language)."""
