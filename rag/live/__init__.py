"""The live archive: sources that pull themselves, one long-running writer, standing questions, timelines.

- `fetch`: a polite HTTP client (robots.txt, per-host rate limit, retries, conditional GET, limits)
- `feeds`: what a feed or sitemap lists
- `sources`: the sources, their state, and the harvester that saves their articles into the corpus
- `watch`: `rag watch`, the single writer: folders (watchfiles) + source schedules → updates → alerts
- `alerts`: standing questions matched against each update's new articles; webhooks
- `timeline`: a story's timeline, a subject's day-by-day coverage by outlet, who did not report it
"""
