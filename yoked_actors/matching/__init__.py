"""Daily matching: who gets which partners each day, and when offers expire (docs/matching.md).

Pure decisions, numpy arrays in and out, no database:

- :mod:`population`: the people of one run as parallel arrays, ordered by user id.
- :mod:`candidates`: neighbour search (k-d tree on the sphere) and the hard filters, both ways.
- :mod:`scoring`: the score, a weighted sum whose weights live in ``scoring.WEIGHTS``.
- :mod:`selection`: greedy selection by score, each user in at most their quota of pairs.
- :mod:`run`: one run from its input (``RunInput``) to its offers (``decide``), and the rules'
  numbers (offers per day, repeat window, ...).

- :mod:`shards`: when a timezone is split into longitude bands, and the border pass's input.

The database, and only it: :mod:`store` (every SQL statement of matching, including the one
definition of an active and an eligible user). The job side, which opens the transactions and
calls the two: :mod:`generation`, :mod:`sharding`, :mod:`expiration`, :mod:`dispatch`
(:mod:`memory`: the process's peak RSS); the jobs themselves are declared in
``yoked_actors.actors.matching``.

The same input always gives the same offers: every ordering is total (ties broken by user id).
"""
