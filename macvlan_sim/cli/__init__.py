"""The ``macvlan-sim`` command: argument parsing, replay tables and reports."""
