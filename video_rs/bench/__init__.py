"""Speed and size measurements, kept out of the runtime packages."""
