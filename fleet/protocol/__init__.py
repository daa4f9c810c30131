"""obshell's wire protocol without I/O: hybrid encryption and envelope/DAG parsing."""
