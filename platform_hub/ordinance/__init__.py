"""The city's My Number ordinance (条例) as versioned data, and the decision for each transfer."""
