"""lighter: OCI/Docker images and multi-arch manifest lists, from Python."""
