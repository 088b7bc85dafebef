"""What comes in and goes out: capture files, the topology file format, scenario JSON."""
