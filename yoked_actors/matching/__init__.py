"""Daily match decisions as pure functions over numpy arrays (issue 5, DESIGN.md job 1).

- :mod:`population`: the people of one run as parallel arrays, ordered by user id.
- :mod:`candidates`: neighbour search (k-d tree on the sphere) and the hard filters, both ways.
- :mod:`scoring`: the score, a weighted sum whose weights live in ``scoring.WEIGHTS``.
- :mod:`selection`: greedy selection by score, each user in at most their quota of pairs.

Nothing here touches the database; ``yoked_actors.actors.matching`` reads the arrays in bulk,
calls these functions and writes the result in bulk. The same input always gives the same
offers: every ordering is total (ties broken by user id).
"""
