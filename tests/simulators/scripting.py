"""The scripting surface the simulators share: rules appended by a test and consumed, in order, by
the requests they match. A simulator mixes `Scripted` in and sets `_rules_state` (an object with a
`cond` lock and a `rules` list) and `_rule_type` (its rule class)."""


class Scripted:
    _rules_state = None
    _rule_type = None

    def script(self, *rules):
        """Appends rules (dicts, or status codes), consumed in order by the requests they match."""
        parsed = [self._rule_type(r) for r in rules]
        with self._rules_state.cond:
            self._rules_state.rules.extend(parsed)
        return self

    def clear_script(self):
        with self._rules_state.cond:
            self._rules_state.rules.clear()

    def pending_rules(self):
        """How many scripted rules are not used up yet."""
        with self._rules_state.cond:
            return len(self._rules_state.rules)
