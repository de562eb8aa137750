"""Code that runs inside the Voila server process, never in a kernel; it imports nothing heavy (no torch)."""
