/**
 * Engineering units a layout may use, by the symbol written in the layout file, with their UNECE
 * Recommendation 20 common code (OPC 10000-8 §5.6.3 derives `EUInformation.unitId` from it).
 */
export const ENGINEERING_UNITS = {
  '%': { code: 'P1', name: 'percent' },
  L: { code: 'LTR', name: 'litre' },
  'L/min': { code: 'L2', name: 'litre per minute' },
  '°C': { code: 'CEL', name: 'degree Celsius' },
  bar: { code: 'BAR', name: 'bar [unit of pressure] = 1E5 Pa' },
  rpm: { code: 'RPM', name: 'revolutions per minute' },
  'm/min': { code: '2X', name: 'metre per minute' },
  g: { code: 'GRM', name: 'gram' },
  'mPa·s': { code: 'C7', name: 'millipascal second' },
  s: { code: 'SEC', name: 'second' },
  '1': { code: 'C62', name: 'one (a count or a ratio)' },
} as const;

export type EngineeringUnit = keyof typeof ENGINEERING_UNITS;

export function isEngineeringUnit(value: string): value is EngineeringUnit {
  return Object.hasOwn(ENGINEERING_UNITS, value);
}
