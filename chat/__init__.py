"""Chat: rooms per language, private support rooms, their stored messages."""
