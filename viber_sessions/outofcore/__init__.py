"""The out-of-core engine's passes: :mod:`.partition` (buckets on disk, repeated ids),
:mod:`.runs` (the audit tables merged in the in-memory order), :mod:`.workfolder` (the
temporary folder removed whatever ends the run). :mod:`viber_sessions.chunked` runs them."""
