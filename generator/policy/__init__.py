"""NRP policy: the rule table (schemas/rules.yaml), schema rules, coded rules and waivers."""
