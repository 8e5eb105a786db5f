"""Jobs: the work behind each CLI command, callable from Python (files in, results out).

A job reads the files a user named, calls ``features`` and ``models``, and returns a
small result object the CLI renders. Jobs raise ``detector.errors`` exceptions.
"""
