"""evalsite's human side: campaigns, judges, ratings and the comparison report."""
