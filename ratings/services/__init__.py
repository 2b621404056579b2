"""Functions that change the ratings app's data: campaigns, items, judges, leases, answers, quality."""
