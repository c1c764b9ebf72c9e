import { describe, expect, it } from 'vitest';
import { allowedCommands, nextStateForCommand, PACKML_STATES } from '../../src/model/packml.js';

describe('PackML state model', () => {
  it('numbers the states as ISA-TR88.00.02 StateCurrent', () => {
    expect(PACKML_STATES.Idle).toBe(4);
    expect(PACKML_STATES.Execute).toBe(6);
    expect(PACKML_STATES.Complete).toBe(17);
  });

  it('walks the production path with commands', () => {
    expect(nextStateForCommand('Idle', 'Start')).toBe('Starting');
    expect(nextStateForCommand('Execute', 'Hold')).toBe('Holding');
    expect(nextStateForCommand('Held', 'Unhold')).toBe('Unholding');
    expect(nextStateForCommand('Complete', 'Reset')).toBe('Resetting');
    expect(nextStateForCommand('Aborted', 'Clear')).toBe('Clearing');
    expect(nextStateForCommand('Stopped', 'Reset')).toBe('Resetting');
  });

  it('refuses commands the state does not allow', () => {
    expect(nextStateForCommand('Execute', 'Start')).toBeUndefined();
    expect(nextStateForCommand('Idle', 'Unhold')).toBeUndefined();
    expect(nextStateForCommand('Aborted', 'Stop')).toBeUndefined();
    expect(nextStateForCommand('Aborting', 'Abort')).toBeUndefined();
    expect(nextStateForCommand('Stopped', 'Clear')).toBeUndefined();
  });

  it('accepts Abort everywhere except the abort branch, Stop everywhere outside it and Stopped', () => {
    expect(allowedCommands('Execute')).toEqual(['Stop', 'Hold', 'Suspend', 'Abort']);
    expect(allowedCommands('Aborted')).toEqual(['Clear']);
    expect(allowedCommands('Stopped')).toEqual(['Reset', 'Abort']);
  });
});
