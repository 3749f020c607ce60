"""What users do to pipelines from outside: look at groups, replay them, redrive dead letters, clean up."""
