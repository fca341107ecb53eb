
vğ\ÎJ$°2„fò|ØJ•š—ìãŸçËnginx.access"	TestInput(2GET / HTTP/1.1:0.8@’!Jweb-01.example.com