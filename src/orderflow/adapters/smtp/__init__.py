"""Email notifications over SMTP (standard library smtplib)."""
