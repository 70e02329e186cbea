"""Ray adapters: trials, pools, the Tune driver."""
