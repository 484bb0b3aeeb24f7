// The page's first script, small so it runs at once: it starts the first load's API calls
// (api.preload), then loads the app (main.ts), whose code takes a while to evaluate on a cold
// start; the answers are on their way meanwhile, and the app takes them when it asks. At
// 10,000 providers the provider list is most of the time to the first rows (its answer is
// ~10 MB), so it is asked for first.
// The stylesheet is here so that it is in the page before the app's code is.

import './style.css';
import { api } from './api';

api.preload();
void import('./main');
