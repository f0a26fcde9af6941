"""The controller process: settings, wiring, the CA pool file watcher and the health endpoint.

`main` is the only place that knows every component; it builds them from `settings` (through
`components`) and runs them in one TaskGroup. Nothing below this layer imports it.
"""
