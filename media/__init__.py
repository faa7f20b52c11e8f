"""Pictures kept by the platform (slide images today): validated, stored by content hash, served."""
