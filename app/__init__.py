"""The application's assembly: the services every handler is given, the table
of every URL, and the demo data.  It sits above every other package (it
imports the handlers, the staff pages and the WebSocket endpoint); only
`server.py` imports it.
"""
