// GeoCells: see DESIGN.md "Layout".
