"""Quizzes between sessions: authored by staff, taken once by each attendee.

- `quizzes.authoring`: the quiz documents, their validation, status and
  deletion (every staff change goes to the audit log);
- `quizzes.taking`: an attendee's attempt: start, the server-side deadline,
  submission and scoring, and what the attendee may see of it;
- `quizzes.results`: numbers and tables for the staff, and the CSV export.
"""
