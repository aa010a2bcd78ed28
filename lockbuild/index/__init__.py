"""The index side: fetching over HTTP and ``file://`` (retries, size limits, range reads),
the on-disk cache of pages and artifacts, PEP 503 HTML and PEP 691 JSON pages parsed into
listings, the client that merges every index and find-links location, and pip's
configuration as a source of index options. May import the kernel modules at the top of
``lockbuild`` (and ``dists`` for reading archives it fetched)."""
