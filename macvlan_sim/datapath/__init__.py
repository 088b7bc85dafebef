"""The kernel's receive and transmit world: frames in, decision records out (sans-I/O).

Reads the configuration plane (``model``); knows nothing of files, sockets or the CLI.
"""
