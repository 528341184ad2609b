"""Memory sources: what ECS (task metadata v4, the ECS API) and the kernel (cgroups, /proc) say.

Each module parses one format (`parse_*`, pure) and reads it at an injected location (`read_*`
for files, `fetch_*` for the network); malformed input is a `SourceError` naming where it was read.
"""
