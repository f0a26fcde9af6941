"""Reusable controller machinery that knows nothing about certificates.

`informer` keeps a cache of one kind in sync (list + watch, relist on 410); `workqueue` and
`ratelimit` reproduce client-go's queue semantics; `controller` runs workers that map
reconcile outcomes to queue operations; `trigger` drives whole-state loops.
"""
