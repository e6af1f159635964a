#!/bin/sh
# The same installer fixed: -I INPUT 5 puts the rule before the catch-all REJECT (rule 5 of INPUT), so
# connections to 8080 are accepted.
iptables -I INPUT 5 -p tcp -m state --state NEW -m tcp --dport 8080 -j ACCEPT
