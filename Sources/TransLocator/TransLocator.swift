// TransLocator: see DESIGN.md "Layout".
