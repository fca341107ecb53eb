
NΨ΄6ΆφpάNΚ¤0²€€€Εέπ•unicode2+hΓ©llo wΓ¶rld β€” ζ—¥ζ¬θª π€ π Β endJhΓ΄te