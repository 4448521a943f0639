"""The Tracking Log export engine: definition -> rows -> file bytes. No AWS in here."""
