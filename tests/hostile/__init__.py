"""The hostile-input corpus (issue 6 item 7) and what each input must produce."""
