"""Teaching tools: explain a frame, diagnose a topology, draw it — all read the engine's record."""
