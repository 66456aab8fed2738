/** The admin page's entry point (bundled by `dev/ui/buildPage.ts` into `dist/ui/app-<hash>.js`). */
import './styles.css';

import { render } from 'preact';

import { App } from './app';

render(<App />, document.getElementById('app')!);
